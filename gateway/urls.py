"""Routes of the HTTP surface (see SPEC, "HTTP surface")."""

urlpatterns: list = []
