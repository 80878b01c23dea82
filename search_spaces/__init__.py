"""Built-in search spaces, one module each; `automl.spaces` imports every module here."""
