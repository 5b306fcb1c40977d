"""The release version, stamped into the binaries."""

CONVERGE_VERSION = "0.1.0"
