"""What each training task reads and which losses it computes.

A task is a small class named in a recipe (`task: {_component_: blipctl.tasks.caption.Caption}`)
with `records(files, root)`, `sample(image_size, train)` and `losses(model, batch, ctx)`.
The engine does the rest. The single-image tasks share their data side (`pairs.py`: image-text
pairs, VQA records); there is no other base class: each file reads top to bottom.
"""
