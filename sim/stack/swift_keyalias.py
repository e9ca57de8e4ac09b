# Swift paste filter for the local stack. DynamoDB Local accepts only [A-Za-z0-9] access keys while tempauth knows
# only "account:user" ones; this maps each alphanumeric key of the stack (aliases = KEY=account:user,...) to its
# tempauth user so one AWS key pair reaches both. tempauth still checks the signature with that user's secret.


def filter_factory(global_conf, **local_conf):
    aliases = dict(pair.split("=", 1) for pair in local_conf["aliases"].split(",") if pair)

    def make(app):
        def middleware(env, start_response):
            details = env.get("s3api.auth_details")
            target = details and aliases.get(details.get("access_key"))
            if target:
                alias = details["access_key"]
                details["access_key"] = target
                env["PATH_INFO"] = env["PATH_INFO"].replace("/" + alias, "/" + target, 1)
            return app(env, start_response)

        return middleware

    return make
