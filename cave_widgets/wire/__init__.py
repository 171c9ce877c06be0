"""Wire formats both sides of cave_widgets speak (the client decodes what the embedded server
encodes). Depends on nothing else in the package, so neither side imports the other."""
