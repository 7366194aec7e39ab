"""MLflow models-from-code entry point: logged with every registered leadscore model.

MLflow runs this file when the model is loaded; it names the pyfunc class, whose
``load_context`` reads the model's bundle artifact (LightGBM text and versioned JSON).
"""

from leadscore.models._pyfunc import LeadScoringModel
from mlflow.models import set_model

set_model(LeadScoringModel())
