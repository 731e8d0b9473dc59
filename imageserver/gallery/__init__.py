"""The gallery (docs/API.md#the-gallery): HTML pages for people to look at what is loaded.

`views.bp` is the one blueprint: the pages, the sign-in form and, nested under it, the few
JSON calls the page makes that the API has no route for (`api.bp`). `web/session.py` holds
the signed sign-in cookie and its CSRF token, which `web/routes/auth.py` also accepts on the
control API so the page can use the listing API as it is.
"""
