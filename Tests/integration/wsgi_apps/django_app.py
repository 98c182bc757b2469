"""A real (minimal, single-file) Django project served through gatewayd's
WSGI loader (test_wsgi.py): settings configured in code, DEBUG off."""
import hashlib
import json
import os
import tempfile

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="gatewayd-test-not-secret",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[],
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    DATABASES={},
    USE_TZ=True,
    FILE_UPLOAD_TEMP_DIR=os.environ.get("GATEWAYD_TEST_TMP") or tempfile.gettempdir(),
    LOGGING_CONFIG=None,
)

from django import forms  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402
from django.views.decorators.http import require_POST  # noqa: E402


class ContactForm(forms.Form):
    name = forms.CharField(max_length=50)
    age = forms.IntegerField(min_value=0)


def index(request):
    return HttpResponse("<h1>Hello from Django</h1>")


@csrf_exempt
def contact(request):
    if request.method != "POST":
        return HttpResponse('<form method="post"><input name="name"><input name="age"></form>')
    form = ContactForm(request.POST)
    if form.is_valid():
        return JsonResponse({"ok": True, "data": form.cleaned_data})
    return JsonResponse({"ok": False, "errors": form.errors.get_json_data()}, status=400)


@csrf_exempt
@require_POST
def api(request):
    data = json.loads(request.body)
    return JsonResponse({"sum": sum(data["numbers"]), "method": request.method,
                         "content_type": request.content_type})


def cookie_set(request):
    resp = HttpResponse("cookie set")
    resp.set_cookie("theme", request.GET.get("v", "dark"))
    return resp


def cookie_get(request):
    return JsonResponse({"theme": request.COOKIES.get("theme")})


@csrf_exempt
@require_POST
def upload(request):
    f = request.FILES["file"]
    data = f.read()
    return JsonResponse({"name": f.name, "size": len(data),
                         "sha256": hashlib.sha256(data).hexdigest(),
                         "title": request.POST.get("title")})


def download(request):
    return FileResponse(open(request.GET["path"], "rb"), content_type="application/octet-stream")


def streaming(request):
    return StreamingHttpResponse((f"part {i}\n" for i in range(4)), content_type="text/plain")


def boom(request):
    raise RuntimeError("django view exploded")


urlpatterns = [
    path("", index),
    path("contact/", contact),
    path("api/", api),
    path("cookie/set/", cookie_set),
    path("cookie/get/", cookie_get),
    path("upload/", upload),
    path("download/", download),
    path("stream/", streaming),
    path("boom/", boom),
]

application = get_wsgi_application()
