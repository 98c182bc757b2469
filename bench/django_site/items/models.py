from django.db import models


class Item(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField()
    price_cents = models.IntegerField()
    created = models.DateTimeField()

    class Meta:
        app_label = "items"
        db_table = "bench_item"
