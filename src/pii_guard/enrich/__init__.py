"""What the log does not say: the user's roles, the categories of the object, the client's zone."""
