"""The operator: spec -> decide -> apply -> observe -> status, for every TFModel."""
