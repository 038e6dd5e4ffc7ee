r"""Predicts new rows with a finished experiments.train run's model.

  python -m experiments.train --dataset=csv \
      --csv_path=nn_jax/data_files/chile_1988.csv --target=vote \
      --features=region,sex,age,education,income,statusquo \
      --nominal=region,sex --ordinal="education:P<S<PS" --workdir=runs/chile
  head -4 nn_jax/data_files/chile_1988.csv | cut -d, -f2-8 > new.csv
  python -m experiments.predict --model_dir=runs/chile --csv_path=new.csv \
      --out=predictions.csv

Reads the run's model.json and params.npz (nn_jax.load_model) and the rows
of --csv_path (the run's feature columns, by name; a target column, if
there, is not used), and writes --out: the input columns as they were,
then ``predicted_<target>`` (the class name, or the value for
regression) and, for a network classifier, ``p_<class>``, the
probability of each class. A row the run could not have encoded (a missing
column or value, a category its training rows lacked) ends the command with
the line training would print.
"""

import csv
import warnings

from absl import flags

from experiments import cli
from experiments import outputs
from nn_jax import bundle
from nn_jax import tabular

flags.DEFINE_string("model_dir", "runs/train", "The workdir of a finished "
                    "experiments.train run.")
flags.DEFINE_string("csv_path", "", "The rows to predict (a CSV file with a "
                    "header line).")
flags.DEFINE_string("out", "predictions.csv", "Where the predictions go "
                    "(CSV).")

FLAGS = flags.FLAGS


def prediction_columns(model: bundle.Model, table: tabular.Table) -> dict:
  """Column name -> cells: the prediction, and each class's probability."""
  target = model.target if isinstance(model.target, str) else "_".join(
      model.target)
  predicted = model.predict(table)
  if predicted.ndim == 2:   # several regression targets
    columns = {f"predicted_{t}": predicted[:, j]
               for j, t in enumerate(model.target)}
  else:
    columns = {f"predicted_{target}": predicted}
  if model.classes and model.net.model == "mlp":
    with warnings.catch_warnings():   # the same rows: said once, above
      warnings.simplefilter("ignore", bundle.InputRangeWarning)
      proba = model.predict_proba(table)
    columns.update({f"p_{c}": proba[:, i]
                    for i, c in enumerate(model.classes)})
  return {name: [str(v) for v in cells]   # floats: shortest repr
          for name, cells in columns.items()}


def write(path: str, table: tabular.Table, columns: dict) -> None:
  """The table's cells with ``columns`` after them, atomically."""
  with outputs.replacing(path, newline="", encoding="utf-8") as f:
    out = csv.writer(f)
    out.writerow([*table.header, *columns])
    for i, row in enumerate(table.rows):
      out.writerow([*row, *(cells[i] for cells in columns.values())])


def main(argv):
  del argv
  cli.check(bool(FLAGS.csv_path), "csv_path", "name the CSV file of rows "
            "to predict")
  model = bundle.load_model(FLAGS.model_dir)
  table = tabular.read_csv(FLAGS.csv_path)
  write(FLAGS.out, table, prediction_columns(model, table))
  target = (model.target if isinstance(model.target, str)
            else ", ".join(model.target))
  print(f"{table.size} prediction{'' if table.size == 1 else 's'} of "
        f"{target} written to {FLAGS.out}")


def entry():
  """Entry point of the installed command."""
  cli.run(main)


if __name__ == "__main__":
  entry()
