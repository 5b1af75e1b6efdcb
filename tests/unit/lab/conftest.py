"""Make the lab's ``crashlab`` package importable: it lives in ``lab/``, outside the collection."""
import os
import sys

LAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "lab")
if os.path.abspath(LAB) not in sys.path:
    sys.path.insert(0, os.path.abspath(LAB))
