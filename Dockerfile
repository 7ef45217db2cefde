# The image docker-compose.yml runs. No Docker engine runs on our build machines; keep this in step with the
# Makefile (assets from npm, the package installed with pip, keys mounted from keys/generated). nginx, in front
# of these apps, runs from the official nginx image with deploy/nginx mounted: nothing of it is built here.
FROM node:20-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
COPY scripts ./scripts
RUN mkdir -p federation/static && npm ci --no-audit --no-fund && npm run build

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml federation.yaml ./
COPY federation ./federation
COPY --from=assets /build/federation/static/govuk ./federation/static/govuk
COPY hub ./hub
COPY stub_idp ./stub_idp
COPY stub_idp_pysaml2 ./stub_idp_pysaml2
COPY stub_service ./stub_service
COPY keys/__init__.py keys/__main__.py keys/pki.py ./keys/
RUN pip install --no-cache-dir -e .
