"""``python -m winnow``: the ``winnow`` command, also as ``torchrun ... -m winnow train ...``."""

import sys

from winnow.cli import main

if __name__ == "__main__":
    sys.exit(main())
