"""``python -m gradcam_keras``: the command line tool (see ``gradcam_keras.cli``)."""

import sys

from gradcam_keras.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
