"""What AWS checks that an emulator does not, kept as data and evaluated on synthesized stacks.

Kinds of rule (README, "What AWS checks that an emulator does not"):

- ``ordering``: an argument that names another resource of the stack reaches it through a
  reference or ``depends_on``, so Terraform never calls AWS before the named resource exists;
- ``prerequisites``: what AWS checks at create time that is not a reference (a table);
- ``permissions``: what each role's service calls during a release and a rollback (a table);
- ``network``: each of those calls made from inside a VPC gets out, through an endpoint whose
  policy admits it or through NAT, and nothing else reaches the internet;
- ``updates``: what AWS refuses to update or what loses data when replaced (read by
  ``make preflight`` from a plan).

Nothing here imports cdktf: the rules read the Terraform JSON, so they hold for any stack.
"""
