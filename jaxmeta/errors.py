"""Errors raised for bad user input, before anything is compiled."""


class JaxmetaError(Exception):
  """Base class of every error jaxmeta raises for bad input or bad files.

  The command line prints ``jaxmeta: error: <message>`` and exits with status 2.
  """


class ConfigError(JaxmetaError, ValueError):
  """An argument has a value outside what is allowed.

  Attributes:
    argument: the offending argument, spelled as on the command line (``--shots``).
  """

  def __init__(self, argument: str, message: str):
    self.argument = argument
    super().__init__(f"{argument}: {message}")


class CheckpointError(JaxmetaError):
  """A checkpoint or run directory cannot be read or does not match the run."""


class TrainingDivergedError(JaxmetaError):
  """The meta-loss became NaN or infinite."""

  def __init__(self, step: int, value: float):
    self.step = step
    super().__init__(f"meta-loss is {value} at step {step}; stopped, the last good checkpoint is intact")
