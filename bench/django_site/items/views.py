from django.shortcuts import get_object_or_404, render

from .models import Item


def item(request, pk):
    """One row by primary key through the ORM, rendered with a template."""
    return render(request, "items/item.html", {"item": get_object_or_404(Item, pk=pk)})
