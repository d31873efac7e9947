"""The DPO console: a web page over the services' RPCs for the privacy team (``lethe console``)."""
