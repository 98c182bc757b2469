from django.urls import path

from items import views

urlpatterns = [
    path("item/<int:pk>/", views.item, name="item"),
]
