"""The command line tool ``gradcam-keras`` (``python -m gradcam_keras``).

- ``parser``: the arguments, and the argparse types the package's scripts share.
- ``main``: ``main(argv)``; checks arguments and files before TensorFlow loads, exit statuses,
  the report on stdout (text, or ``--json`` as described in the README, section ``--json``).
- ``inputs``: which image files, where the figures go, the progress bar (no TensorFlow).
- ``run``: loading the model and the one pipeline: images in batches, every method, figures
  and raw maps written, one record per image.

The library never imports this package.
"""
