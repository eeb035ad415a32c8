"""Files of the caller's tenant: streamed upload and download."""

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Request, Response, status
from fastapi.responses import StreamingResponse

from app.files.schemas import FileOut
from app.files.service import FileService
from app.files.storage.base import CHUNK_SIZE
from app.identity.dependencies import PrincipalDep, member_tenant, require
from app.platform.dependencies import runtime_of
from app.platform.errors import ServiceUnavailable
from app.platform.pagination import Page, PageDep
from app.platform.permissions import Action
from app.platform.responses import API_V1, problems

router = APIRouter(prefix=f"{API_V1}/files", tags=["files"])
UPLOAD_PATH = f"{API_V1}/files/upload"  # bodies here stream; see app/platform/body_limit.py


async def get_file_service(request: Request, principal: PrincipalDep) -> FileService:
    runtime = runtime_of(request)
    return FileService(
        runtime.db, member_tenant(principal), principal, runtime.storage, runtime.settings
    )


FileServiceDep = Annotated[FileService, Depends(get_file_service)]

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "additionalProperties": False,  # any other part is a 422
                }
            }
        },
    }
}


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback and the RFC 5987 UTF-8 name: no quote, CR, LF
    or non-ASCII character of a client's filename can reach the header unescaped."""
    fallback = (
        "".join(ch if " " <= ch <= "~" and ch not in '"\\;%' else "_" for ch in filename).strip()
        or "file"
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def etag(sha256: str) -> str:
    return f'"{sha256}"'


def _matches(if_none_match: str, tag: str) -> bool:
    candidates = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in candidates or tag in candidates


@router.post(
    "/upload",
    dependencies=[require(Action.UPLOAD_FILE)],
    status_code=status.HTTP_201_CREATED,
    response_model=FileOut,
    responses=problems(401, 403, 408, 413, 415, 422, 429, 503),
    openapi_extra=_UPLOAD_BODY,
)
async def upload_file(request: Request, service: FileServiceDep) -> FileOut:
    return FileOut.model_validate(await service.upload(request))


@router.get(
    "",
    dependencies=[require(Action.LIST_FILES)],
    response_model=Page[FileOut],
    responses=problems(401, 403, 422, 429),
)
async def list_files(service: FileServiceDep, paging: PageDep) -> Page[FileOut]:
    return await service.page(paging)


@router.get(
    "/{file_id}",
    dependencies=[require(Action.READ_FILE)],
    response_class=StreamingResponse,
    responses={
        # The media types are the deployment's allowed file types (see app/main.py).
        200: {"description": "The file's bytes", "content": {"application/octet-stream": {}}},
        304: {"description": "Not modified (If-None-Match matched the ETag)"},
        **problems(401, 403, 404, 429, 503),
    },
)
async def download_file(
    file_id: str,
    service: FileServiceDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    stored = await service.get(file_id)
    tag = etag(stored.sha256)
    if if_none_match is not None and _matches(if_none_match, tag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
    content = await service.open_content(stored)
    headers = {
        "ETag": tag,
        "Content-Disposition": content_disposition(stored.filename),
        "Cache-Control": "private, no-cache",
    }
    if stored.size_bytes <= CHUNK_SIZE:  # a chunk or less: answered whole, not streamed
        body = b"".join([chunk async for chunk in content])
        if len(body) != stored.size_bytes:  # never a short answer that looks whole
            raise ServiceUnavailable("The file's content is unavailable")
        return Response(body, media_type=stored.content_type, headers=headers)
    headers["Content-Length"] = str(stored.size_bytes)
    return StreamingResponse(content, media_type=stored.content_type, headers=headers)


@router.delete(
    "/{file_id}",
    dependencies=[require(Action.DELETE_FILE)],
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problems(401, 403, 404, 429, 503),
)
async def delete_file(file_id: str, service: FileServiceDep) -> Response:
    await service.delete(file_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
