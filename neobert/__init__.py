"NeoBERT: pretrain, fine-tune, evaluate and export a next-generation BERT-style encoder."
__version__ = "0.1.0"
# Importing the package registers NeoBERT with transformers' Auto classes (see nbs/03_model.ipynb).
from . import model as _model  # noqa: F401
