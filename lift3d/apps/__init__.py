"""The jobs users run, one module each: each reads files, calls the library and writes and prints results.

This is the only layer that reads, writes and prints on the user's behalf; `lift3d.cli` wires it to the
command line."""
