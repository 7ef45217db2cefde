"""Federation PKI: the generator and the start-up certificate checks."""
