"""TF Serving's gRPC API: ``PredictionService`` (Predict, Classify, Regress, GetModelMetadata)
and ``ModelService.GetModelStatus``, from the ``tensorflow-serving-api`` protos, so TF Serving's
own client (``prediction_service_pb2_grpc.PredictionServiceStub``) works unchanged.

The request id is read from the ``x-request-id`` metadata key (or made up) and sent back in the
initial metadata. With access control on (``serve(api_keys_file=...)``), a server interceptor
reads the key from the ``authorization`` metadata (``Bearer <key>``): UNAUTHENTICATED before the
request is even parsed, PERMISSION_DENIED when its models do not include every model the request
names. With ``tls_cert``/``tls_key`` the port speaks TLS (``grpc.ssl_channel_credentials`` on
the client); with ``tls_client_ca`` clients must present a certificate that CA signed.

Example:
    (tests/serving/test_server.py runs this.)
    >>> import grpc
    >>> from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    >>> stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(srv.grpc_target))  # doctest: +SKIP
    >>> req = predict_pb2.PredictRequest(); req.model_spec.name = "penguin"   # doctest: +SKIP
    >>> req.inputs["examples"].CopyFrom(tf.make_tensor_proto(serialized))     # doctest: +SKIP
    >>> stub.Predict(req).outputs["outputs"]                                  # doctest: +SKIP
"""
from __future__ import annotations

import time
from concurrent import futures
from typing import Any

import numpy as np

from mlprod.errors import DataError, Unavailable
from mlprod.serving.model import examples_of_input as _examples


def _auth_interceptor(server: Any) -> Any:
    """A ``grpc.ServerInterceptor`` checking the API key (metadata) and the models a request names."""
    import grpc

    from mlprod.errors import PermissionDenied, Unauthenticated

    def models_of(request: Any) -> list[str] | None:
        """The models a request names (None: it names none, so it needs a key for every model)."""
        if hasattr(request, "tasks"):  # MultiInference
            return [t.model_spec.name for t in request.tasks]
        return [request.model_spec.name] if hasattr(request, "model_spec") else None

    def refuse(api: str, code: Any, msg: str, name: str | None = None) -> Any:
        def answer(request: Any, context: Any) -> Any:
            n = name or next((x for x in models_of(request) or () if x in server.models), server.model_name)
            server.m["requests"].labels(n, api, code.name).inc()
            context.abort(code, msg)
        return answer

    class Auth(grpc.ServerInterceptor):
        def intercept_service(self, continuation: Any, details: Any) -> Any:
            handler = continuation(details)
            if handler is None or handler.unary_unary is None:
                return handler
            api = details.method.rsplit("/", 1)[-1].lower()
            auth = next((v for k, v in details.invocation_metadata if k == "authorization"), None)
            inner = handler.unary_unary
            try:  # here, in the server's polling thread: only the cheap check (a malformed, unknown,
                # refused, expired or already verified key); a new key's scrypt runs in the worker below
                key = server.keys.cached(auth)
            except Unauthenticated as e:  # refused before the request is deserialized
                return grpc.unary_unary_rpc_method_handler(
                    refuse(api, grpc.StatusCode.UNAUTHENTICATED, str(e), server.model_name),
                    request_deserializer=None, response_serializer=handler.response_serializer)

            def fn(request: Any, context: Any) -> Any:
                try:
                    k = key if key is not None else server.keys.authenticate(auth)
                except Unauthenticated as e:
                    return refuse(api, grpc.StatusCode.UNAUTHENTICATED, str(e), server.model_name)(request, context)
                try:
                    names = models_of(request)
                    if names is None:
                        server.keys.authorize_all(k, list(server.models), "this service")
                    for name in names or ():
                        server.keys.authorize(k, name)
                except PermissionDenied as e:
                    return refuse(api, grpc.StatusCode.PERMISSION_DENIED, str(e))(request, context)
                return inner(request, context)
            return grpc.unary_unary_rpc_method_handler(fn, request_deserializer=handler.request_deserializer,
                                                       response_serializer=handler.response_serializer)

    return Auth()


def start_grpc(server: Any, host: str, port: int) -> tuple[Any, int]:
    """Start the gRPC services of a :class:`mlprod.serving.Server`; returns (grpc server, port)."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import (
        classification_pb2,
        get_model_metadata_pb2,
        get_model_status_pb2,
        inference_pb2,
        model_service_pb2_grpc,
        predict_pb2,
        prediction_service_pb2_grpc,
        regression_pb2,
    )

    from mlprod.serving import codec
    from mlprod.serving.status import error_status, new_request_id

    m = server.m

    def handle(api: str, context: Any, fn: Any, spec: Any = None) -> Any:
        t0 = time.perf_counter()
        name = spec.name if spec is not None and spec.name in server.models else server.model_name
        md = dict(context.invocation_metadata())
        rid = md.get("x-request-id") or new_request_id()
        context.send_initial_metadata((("x-request-id", rid),))
        try:
            if server.draining:  # refused on arrival; calls that arrived before draining finish
                raise Unavailable("the server is shutting down; retry on another replica.")
            out = fn(rid)
        except Exception as e:  # noqa: BLE001 - every error becomes a gRPC status
            http, msg = error_status(e, server.draining)
            code = {404: grpc.StatusCode.NOT_FOUND, 400: grpc.StatusCode.INVALID_ARGUMENT,
                    401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED,
                    503: grpc.StatusCode.UNAVAILABLE}.get(http, grpc.StatusCode.INTERNAL)
            m["requests"].labels(name, api, code.name).inc()
            context.abort(code, msg)
        m["requests"].labels(name, api, "OK").inc()
        m["latency"].labels(name, api).observe(time.perf_counter() - t0)
        return out

    def spec_of(spec: Any) -> tuple[str, int | str | None, str]:
        """(name, version number / label / None, signature name) of a ModelSpec."""
        choice = spec.WhichOneof("version_choice")
        version: int | str | None = (spec.version.value if choice == "version" else
                                     spec.version_label if choice == "version_label" else None)
        return spec.name, version, spec.signature_name

    def tensors(sig: Any, protos: Any) -> dict[str, np.ndarray]:
        """Request tensors -> numpy, refusing a dtype other than the signature's (as TF Serving)."""
        out = {}
        for k, v in protos.items():
            info = sig.inputs.get(k)
            if info is None:
                raise DataError(f"input {k!r} is not an input of signature {sig.name!r} "
                                f"(its inputs: {sorted(sig.inputs)}).")
            want = tf.string if info.is_string else tf.as_dtype(np.dtype(info.dtype))
            got = tf.dtypes.as_dtype(v.dtype)
            if got != want:
                raise DataError(f"input {k!r} of signature {sig.name!r} expects {want.name} but the request "
                                f"sends {got.name} (DT_{got.name.upper()}); send a tensor of that dtype.")
            a = tf.make_ndarray(v)
            out[k] = a.astype(object) if a.dtype.kind == "S" else a
        return out

    def fill_spec(out: Any, sv: Any, sig: Any) -> None:
        out.model_spec.name = sv.model_name or server.model_name
        out.model_spec.version.value = sv.version
        out.model_spec.signature_name = sig.name

    def run_examples(request: Any, rid: str) -> tuple[Any, Any, dict[str, np.ndarray]]:
        name, version, sig_name = spec_of(request.model_spec)
        sv, sig = server.resolve(name, version, sig_name or None)
        if not sig.takes_examples:
            raise DataError(f"signature {sig.name!r} takes {sorted(sig.inputs)}, not serialized tf.Examples; "
                            "use Predict.")
        inputs = {next(iter(sig.inputs)): np.array(_examples(request.input), dtype=object)}
        outputs = server.submit(sv, sig, inputs, rid, admitted=True).result()
        return sv, sig, outputs

    class Prediction(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC names
            def fn(rid: str) -> Any:
                name, version, sig_name = spec_of(request.model_spec)
                sv, sig = server.resolve(name, version, sig_name or None)
                inputs = tensors(sig, request.inputs)
                outputs = server.submit(sv, sig, inputs, rid, admitted=True).result()
                resp = predict_pb2.PredictResponse()
                fill_spec(resp, sv, sig)
                wanted = set(request.output_filter) or set(outputs)
                unknown = wanted - set(outputs)
                if unknown:
                    raise DataError(f"output_filter names {sorted(unknown)}; the signature's outputs are {sorted(outputs)}.")
                for k in wanted:
                    resp.outputs[k].CopyFrom(tf.make_tensor_proto(outputs[k]))
                return resp
            return handle("predict", context, fn, request.model_spec)

        def Classify(self, request: Any, context: Any) -> Any:  # noqa: N802
            def fn(rid: str) -> Any:
                sv, sig, outputs = run_examples(request, rid)
                resp = classification_pb2.ClassificationResponse()
                fill_spec(resp, sv, sig)
                for row in codec.classify_result(sig, outputs):
                    c = resp.result.classifications.add()
                    for label, score in row:
                        c.classes.add(label=label, score=score)
                return resp
            return handle("classify", context, fn, request.model_spec)

        def Regress(self, request: Any, context: Any) -> Any:  # noqa: N802
            def fn(rid: str) -> Any:
                sv, sig, outputs = run_examples(request, rid)
                resp = regression_pb2.RegressionResponse()
                fill_spec(resp, sv, sig)
                for v in codec.regress_result(sig, outputs):
                    resp.result.regressions.add(value=v)
                return resp
            return handle("regress", context, fn, request.model_spec)

        def MultiInference(self, request: Any, context: Any) -> Any:  # noqa: N802
            def fn(rid: str) -> Any:
                if not request.tasks:
                    raise DataError("MultiInference needs at least one task (model_spec + method_name).")
                specs = [spec_of(t.model_spec) for t in request.tasks]
                if len({(n, v) for n, v, _ in specs}) != 1:
                    raise DataError("every MultiInference task must name the same model and version.")
                if len({s for _, _, s in specs}) != len(specs):
                    raise DataError("MultiInference tasks must use different signatures.")
                examples = np.array(_examples(request.input), dtype=object)
                resp = inference_pb2.MultiInferenceResponse()
                for task, (name, version, sig_name) in zip(request.tasks, specs, strict=True):
                    sv, sig = server.resolve(name, version, sig_name or None)
                    if not sig.takes_examples:
                        raise DataError(f"signature {sig.name!r} does not take serialized tf.Examples.")
                    outputs = server.submit(sv, sig, {next(iter(sig.inputs)): examples}, rid, admitted=True).result()
                    res = resp.results.add()
                    res.model_spec.name = sv.model_name or server.model_name
                    res.model_spec.version.value = sv.version
                    res.model_spec.signature_name = sig.name
                    if task.method_name == "tensorflow/serving/classify":
                        for row in codec.classify_result(sig, outputs):
                            c = res.classification_result.classifications.add()
                            for label, score in row:
                                c.classes.add(label=label, score=score)
                    elif task.method_name == "tensorflow/serving/regress":
                        for v in codec.regress_result(sig, outputs):
                            res.regression_result.regressions.add(value=v)
                    else:
                        raise DataError(f"MultiInference method_name {task.method_name!r}: use "
                                        "'tensorflow/serving/classify' or 'tensorflow/serving/regress'.")
                return resp
            return handle("multi_inference", context, fn, request.tasks[0].model_spec if request.tasks else None)

        def GetModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
            def fn(rid: str) -> Any:
                name, version, _ = spec_of(request.model_spec)
                if set(request.metadata_field) - {"signature_def"}:
                    raise DataError(f"metadata_field {list(request.metadata_field)}: only 'signature_def' exists.")
                sv, _sig = server.resolve(name, version, None)
                resp = get_model_metadata_pb2.GetModelMetadataResponse()
                resp.model_spec.name = name
                resp.model_spec.version.value = sv.version
                resp.metadata["signature_def"].Pack(sv.signature_defs())
                return resp
            return handle("metadata", context, fn, request.model_spec)

    class Models(model_service_pb2_grpc.ModelServiceServicer):
        def GetModelStatus(self, request: Any, context: Any) -> Any:  # noqa: N802
            def fn(rid: str) -> Any:
                name, version, _ = spec_of(request.model_spec)
                resp = get_model_status_pb2.GetModelStatusResponse()
                states = {"AVAILABLE": get_model_status_pb2.ModelVersionStatus.AVAILABLE,
                          "END": get_model_status_pb2.ModelVersionStatus.END}
                for s in server.status(version, name=name):
                    st = resp.model_version_status.add(version=int(s["version"]), state=states[s["state"]])
                    st.status.error_code = 0 if s["status"]["error_code"] == "OK" else 2
                    st.status.error_message = s["status"]["error_message"]
                return resp
            return handle("status", context, fn, request.model_spec)

    g = grpc.server(futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="mlprod-grpc"),
                    options=[("grpc.max_receive_message_length", 256 << 20)],
                    interceptors=[_auth_interceptor(server)] if server.keys is not None else None)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Prediction(), g)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(Models(), g)
    if server.tls:
        cert, key, ca = server.tls
        with open(cert, "rb") as f1, open(key, "rb") as f2:
            pair = (f2.read(), f1.read())
        root = None
        if ca:
            with open(ca, "rb") as f3:
                root = f3.read()
        creds = grpc.ssl_server_credentials([pair], root_certificates=root, require_client_auth=bool(ca))
        bound = g.add_secure_port(f"{host}:{port}", creds)
    else:
        bound = g.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        from mlprod.errors import ConfigError

        raise ConfigError(f"the gRPC server could not listen on {host}:{port} (port in use?); "
                          "pass another grpc_port, or 0 for a free one.")
    g.start()
    return g, bound
