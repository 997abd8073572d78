"""Sources only read bytes and say where they came from; they never parse."""
