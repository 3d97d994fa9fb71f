"""Pure: what is observed of one TFModel -> what to write (children, prunes, status)."""
