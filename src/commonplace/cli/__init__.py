"""The command line: each module parses one command's arguments, calls one
library function and formats its result."""
