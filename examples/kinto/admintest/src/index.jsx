// The admin page: kinto-admin's KintoAdmin component, with settings from the query string:
// ?server=<Kinto URL, e.g. http://127.0.0.1:8888/v1/> (single-server mode: the login form
// offers the auth methods that server's hello advertises) and ?maxPerPage=<records per page>.
import React from "react";
import { render } from "react-dom";
import KintoAdmin from "kinto-admin";

const params = new URLSearchParams(window.location.search);
const settings = {
  singleServer: params.get("server"),
  maxPerPage: Number(params.get("maxPerPage")) || 200,
};
render(<KintoAdmin settings={settings} />, document.getElementById("root"));
