"""Errors raised for bad user input, before anything is compiled."""


class JaxmetaError(Exception):
  """Base class of every error jaxmeta raises for bad input or bad files.

  The command line prints ``jaxmeta: error: <message>`` and exits with status 2.
  """


class ConfigError(JaxmetaError, ValueError):
  """An argument has a value outside what is allowed.

  The library names the *parameter* (``shots``, ``inner_lr``); the command line prints the
  flag that sets it (``--shots``), see :func:`jaxmeta.cli.main`.

  Attributes:
    parameter: the offending parameter, e.g. ``"shots"``.
    message: what is wrong and what is allowed, without the parameter's name.
  """

  def __init__(self, parameter: str, message: str):
    self.parameter = parameter
    self.message = message
    super().__init__(f"{parameter}: {message}")

  @property
  def argument(self) -> str:
    """Alias of :attr:`parameter` (the name before parameters and flags were told apart)."""
    return self.parameter


class CheckpointError(JaxmetaError):
  """A checkpoint or run directory cannot be read or does not match the run."""


class TrainingDivergedError(JaxmetaError):
  """The meta-loss became NaN or infinite.

  Attributes:
    step: the first step whose loss was not finite.
    checkpoint_step: the step of the last checkpoint written, ``None`` if none was.
  """

  def __init__(self, step: int, value: float, checkpoint_step: "int | None" = None,
               workdir: bool = True):
    self.step = step
    self.checkpoint_step = checkpoint_step
    if not workdir:
      kept = "stopped"
    elif checkpoint_step is None:
      kept = ("stopped before any checkpoint was written, so there is nothing to resume: "
              "lower the learning rates and start again")
    else:
      kept = f"stopped, the last good checkpoint (step {checkpoint_step}) is intact"
    super().__init__(f"meta-loss is {value} at step {step}; {kept}")
