// Copies GOV.UK Frontend's compiled assets into federation/static/govuk, which every app serves at /assets.
// Run by `make assets` after `npm ci`; the copies are git-ignored, never edited by hand.
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "node_modules", "govuk-frontend", "dist", "govuk");
const target = join(root, "federation", "static", "govuk");

rmSync(target, { recursive: true, force: true });
mkdirSync(target, { recursive: true });
for (const file of ["govuk-frontend.min.css", "govuk-frontend.min.js"]) {
  cpSync(join(dist, file), join(target, file));
}
for (const folder of ["fonts", "images"]) {
  cpSync(join(dist, "assets", folder), join(target, folder), { recursive: true });
}
cpSync(join(dist, "assets", "manifest.json"), join(target, "manifest.json"));
console.log(`GOV.UK Frontend assets copied to ${target}`);
