"""One router per resource; handlers are thin: validate, call ``service.compute``, answer."""
