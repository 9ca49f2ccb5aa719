"""``python -m gaplens`` is the ``gaplens`` command."""

from gaplens.cli import main

if __name__ == "__main__":
    main()
