"""Models in object storage: the stores (I/O), which versions are complete and wanted (pure),
and the `tfmodel sync` sidecar that mirrors them into TF Serving's directory."""
