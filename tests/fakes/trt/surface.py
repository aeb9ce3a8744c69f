"""Make a generation's public class from an implementation class and the API table (generations.API).

The public class copies the implementation's private members and only the public names the
generation has; a "D" name warns DeprecationWarning("Use X instead.") on every call or access.
Setting an attribute the class does not have raises AttributeError (pybind11 objects have no
__dict__): on 10.3 even `config.max_workspace_size = n` fails.
"""

import warnings

from tests.fakes.trt.generations import status


def deprecation(instead):
    # TensorRT python/src/utils.cpp issueDeprecationWarning: "Use " + useInstead + " instead.", stacklevel 1
    warnings.warn("Use {} instead.".format(instead), DeprecationWarning, stacklevel=3)


def _deprecated(value, instead):
    if isinstance(value, property):
        def fget(self):
            deprecation(instead)
            return value.fget(self)

        def fset(self, new):
            deprecation(instead)
            value.fset(self, new)
        return property(fget, fset if value.fset else None)

    def wrapper(*args, **kwargs):
        deprecation(instead)
        return value(*args, **kwargs)
    wrapper.__name__ = getattr(value, "__name__", "deprecated")
    return wrapper


def _setattr(self, name, value):
    if not name.startswith("_") and not hasattr(type(self), name):
        raise AttributeError("'{}' object has no attribute '{}'".format(type(self).__name__, name))
    object.__setattr__(self, name, value)


def public_class(name, impl, column, state, bases=(object,)):
    """The class `name` of one generation: impl's members filtered by the API column, with `_state` set."""
    members = {"__setattr__": _setattr, "_state": state, "__doc__": impl.__doc__}
    for klass in reversed(impl.__mro__[:-1]):
        for attribute, value in vars(klass).items():
            if attribute in ("__dict__", "__weakref__", "__module__", "__qualname__", "__doc__"):
                continue
            public = not attribute.startswith("_") or attribute in ("__len__", "__iter__", "__getitem__")
            if not public:
                members[attribute] = value
                continue
            found = status(name, attribute, column)
            if found is None:
                members.pop(attribute, None)
            elif found == "Y":
                members[attribute] = value
            else:
                members[attribute] = _deprecated(value, found[2:])
    return type(name, bases, members)
