"""Graph -> Graph transformations and analyses."""
