r"""User text (model labels, file and class names) on matplotlib figures, shown literally.

Matplotlib reads a string with an even number of ``$`` as mathtext: a model folder named
``$\notacmd$`` in a legend makes ``savefig`` raise. Text set with ``parse_math=False``
(titles, axis labels, tick labels) is safe already; legends cannot take that option, so every
user string that becomes a legend entry (or any text drawn with mathtext on) goes through
:func:`plain`.
"""

from __future__ import annotations

__all__ = ["plain"]


def plain(text: object) -> str:
    r"""``str(text)`` with every ``$`` escaped, so matplotlib draws it as typed (never as math).

    Only for text drawn with mathtext enabled (the default, and the only choice for legend
    entries); text with ``parse_math=False`` would show the backslashes.

    >>> print(plain("$5 net, $6 data"))
    \$5 net, \$6 data
    """
    return str(text).replace("$", r"\$")
