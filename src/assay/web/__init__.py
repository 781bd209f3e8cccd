"""The web dashboard: server-rendered Jinja2 pages, their view models and a CSS file (no JavaScript, no build step).

Owns: ``templates/`` and ``static/``, the rendering environment (``render``), the page view models (``views``: the
transparency log's tree-size chart and an entry's inclusion proof checked through ``verify.tlog``; the evidence
graph drawn by ``evidence.graph``), the CSRF token arithmetic (``csrf``) and the interface the profile, entity and
history pages read (``profiles.ProfilesView``).

May import: the service band (``access``, ``evidence``, ``profiles``, ``service``) and everything below it
(``log``, ``verify``, ``formats``, ...). Never ``server`` or ``cli``: ``server/routes_ui.py`` mounts these pages,
authenticates the session cookie and authorises each page through ``access`` before a view model is built.

Invariants: every page is readable with JavaScript off; nothing is shown as "verified" unless the verification
code said so in this request; templates autoescape everything they are given.
"""
