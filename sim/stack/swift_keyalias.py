# Swift paste filter for the local stack. DynamoDB Local accepts only [A-Za-z0-9] access keys while tempauth knows
# only "account:user" ones; this maps one alphanumeric key to a tempauth user so a single AWS key pair reaches both.
# The signature is still checked by tempauth with the user's secret (SigV4 does not sign the access key itself).


def filter_factory(global_conf, **local_conf):
    alias = local_conf["alias"]
    target = local_conf["target"]

    def make(app):
        def middleware(env, start_response):
            details = env.get("s3api.auth_details")
            if details and details.get("access_key") == alias:
                details["access_key"] = target
                env["PATH_INFO"] = env["PATH_INFO"].replace("/" + alias, "/" + target, 1)
            return app(env, start_response)

        return middleware

    return make
