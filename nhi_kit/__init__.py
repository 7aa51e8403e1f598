"""The virtual card kit's own packages: simulators the product never imports."""
