"""mcemu control plane: regions, flows, the ICE-compatible API, topology files, CLI and runtime."""
