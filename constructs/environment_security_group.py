"""The security group MWAA needs when the migration file names none."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2

from constructs import Construct
from constructs.acknowledgments import acknowledge


class EnvironmentSecurityGroup(Construct):
    """Self-referencing: MWAA's web server, scheduler and workers talk to each other through it, and nothing else
    may reach them. Outbound is open because MWAA reaches AWS endpoints and PyPI through it."""

    def __init__(self, scope: Construct, construct_id: str, *, vpc_id: str, environment_name: str) -> None:
        super().__init__(scope, construct_id)
        group = ec2.CfnSecurityGroup(
            self,
            "Resource",
            vpc_id=vpc_id,
            group_description=f"MWAA environment {environment_name}: members reach each other only",
            security_group_egress=[
                ec2.CfnSecurityGroup.EgressProperty(
                    ip_protocol="-1",
                    cidr_ip="0.0.0.0/0",
                    description="MWAA reaches AWS endpoints and packages",
                )
            ],
        )
        self_ingress = ec2.CfnSecurityGroupIngress(
            self,
            "SelfIngress",
            group_id=group.attr_group_id,
            source_security_group_id=group.attr_group_id,
            ip_protocol="-1",
            description="Members of this environment reach each other",
        )
        acknowledge(
            self_ingress,
            "NIST.800.53.R5-EC2RestrictedCommonPorts",
            "The only source is this security group itself (MWAA's own components); no address range is allowed in.",
        )
        self.security_group_id = group.attr_group_id
