"""The dutygrid application: storage, HTTP service, maps and command line."""
