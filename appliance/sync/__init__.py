"""The connected knowledge base: the street office publishes signed bundles, kiosks sync them.

* :mod:`~appliance.sync.bundle` — a bundle: a folder of reviewed sources (guides, tours with their
  images, synonyms, notices, optionally the community's ``site.toml``) as a tarball with a
  manifest (version, time, per-file sha256 and size, the regression questions); validated before
  it is made, checked file by file when it is opened.
* :mod:`~appliance.sync.publish` — the street office's side: a TUF repository of static files
  (python-tuf's metadata API), its keys (the root key kept offline), publishing a bundle into a
  channel, re-signing the timestamp, rotating keys.
* :mod:`~appliance.sync.client` — the kiosk's side: TUF's ngclient verifies what the repository
  offers; bundles are downloaded resumably, built into a new knowledge-base file, checked, and
  swapped in atomically; the last versions are kept for rollback.
"""
