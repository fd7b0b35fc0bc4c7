"""`python -m thecloud.control.cli`: the same as the `thecloud` script."""

from thecloud.control.cli import main

main()
