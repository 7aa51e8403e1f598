"""The NHI IC-card cloud simulated: signatures checked, state kept (docs/cloud-protocol.md)."""
