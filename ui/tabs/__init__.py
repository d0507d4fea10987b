"""The app's tabs, one module each: its layout, its events and the handlers they call.

Each module's ``build(ctx)`` lays its tab out inside the current ``gr.Blocks`` / ``gr.Tabs``,
wires the events that stay inside the tab and returns its components; ``ui.app.build_app``
composes the tabs and wires what crosses them.
"""

from . import chat, evaluation, feedback, library, sources

__all__ = ["chat", "evaluation", "feedback", "library", "sources"]
