"""The model tools, which run outside the operator: the exporter (in export Jobs) and the
client (on a laptop). TensorFlow is imported only here."""
