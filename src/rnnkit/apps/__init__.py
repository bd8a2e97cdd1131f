"""Applications built on the public rnnkit API, one folder each (data, model, recipe)."""
