"""The GOV.UK Verify profile's vocabulary: levels of assurance, the matching dataset, cycle 3, account
creation attributes, the pairwise identifier and the full profile's assertion. No Flask here."""
